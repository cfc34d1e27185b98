# Verbatim from the DeepSeek-OCR API guide, the contract this server keeps (README: "Using it"); the tests run it unchanged against a real server.
import requests

filename = "ocr_result_20250127_143022.txt"
url = f"http://localhost:8031/results/{filename}"

response = requests.get(url)
if response.status_code == 200:
    with open("downloaded_result.txt", "w", encoding="utf-8") as f:
        f.write(response.text)
    print("✓ File downloaded successfully!")
else:
    print(f"✗ Error: {response.status_code}")

# Verbatim from the DeepSeek-OCR API guide, the contract this server keeps (README: "Using it"); the tests run it unchanged against a real server.
import requests

def ocr_from_file(image_path, prompt="<image>\nFree OCR.", save_to_file=True):
    """
    Perform OCR on an image file
    对图片文件执行 OCR
    """
    url = "http://localhost:8031/ocr"

    with open(image_path, "rb") as f:
        files = {"image": ("image.png", f, "image/png")}
        data = {
            "prompt": prompt,
            "save_to_file": save_to_file
        }

        response = requests.post(url, files=files, data=data)

        if response.status_code == 200:
            result = response.json()
            print("✓ OCR Success!")
            print(f"Text: {result['text']}")
            if result.get("output_file"):
                print(f"Saved to: {result['output_file']}")
            return result
        else:
            print(f"✗ Error: {response.status_code}")
            print(response.json())
            return None

# Usage
result = ocr_from_file("document.png")

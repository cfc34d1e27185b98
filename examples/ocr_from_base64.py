# Verbatim from the DeepSeek-OCR API guide, the contract this server keeps (README: "Using it"); the tests run it unchanged against a real server.
import requests
import base64

def ocr_from_base64(image_path, prompt="<image>\nFree OCR.", save_to_file=True):
    """
    Perform OCR on an image using base64 encoding
    使用 base64 编码对图片执行 OCR
    """
    url = "http://localhost:8031/ocr-base64"

    # Read and encode image
    with open(image_path, "rb") as f:
        image_data = f.read()
        image_base64 = base64.b64encode(image_data).decode("utf-8")

    # Add data URL prefix (optional)
    image_base64 = f"data:image/png;base64,{image_base64}"

    # Prepare request
    payload = {
        "image_base64": image_base64,
        "prompt": prompt,
        "save_to_file": save_to_file
    }

    # Send request
    response = requests.post(url, json=payload)

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
result = ocr_from_base64("document.png")

#!/usr/bin/env python3
# Verbatim from the DeepSeek-OCR API guide, the contract this server keeps (README: "Using it"); the tests run it unchanged against a real server.
"""
DeepSeek-OCR API Client Example
DeepSeek-OCR API 客户端示例
"""
import requests
import base64
import sys

API_BASE_URL = "http://localhost:8031"

def check_health():
    """Check API health / 检查 API 健康状态"""
    response = requests.get(f"{API_BASE_URL}/health")
    return response.json()

def ocr_file(image_path, prompt="<image>\nFree OCR.", save_to_file=True):
    """
    OCR from file upload
    从文件上传进行 OCR
    """
    url = f"{API_BASE_URL}/ocr"

    with open(image_path, "rb") as f:
        files = {"image": f}
        data = {"prompt": prompt, "save_to_file": save_to_file}
        response = requests.post(url, files=files, data=data)

    if response.status_code == 200:
        return response.json()
    else:
        raise Exception(f"OCR failed: {response.json()}")

def ocr_base64(image_path, prompt="<image>\nFree OCR.", save_to_file=True):
    """
    OCR from base64 encoding
    从 base64 编码进行 OCR
    """
    url = f"{API_BASE_URL}/ocr-base64"

    with open(image_path, "rb") as f:
        image_data = f.read()
        image_base64 = base64.b64encode(image_data).decode("utf-8")

    payload = {
        "image_base64": f"data:image/png;base64,{image_base64}",
        "prompt": prompt,
        "save_to_file": save_to_file
    }

    response = requests.post(url, json=payload)

    if response.status_code == 200:
        return response.json()
    else:
        raise Exception(f"OCR failed: {response.json()}")

def download_result(filename, output_path):
    """
    Download OCR result file
    下载 OCR 结果文件
    """
    url = f"{API_BASE_URL}/results/{filename}"
    response = requests.get(url)

    if response.status_code == 200:
        with open(output_path, "w", encoding="utf-8") as f:
            f.write(response.text)
        return True
    else:
        raise Exception(f"Download failed: {response.status_code}")

def main():
    """Main function / 主函数"""
    # Check health / 检查健康状态
    print("Checking API health... / 检查 API 健康状态...")
    health = check_health()
    print(f"Status: {health['status']}")
    print(f"Device: {health['device']}")
    print()

    # Perform OCR / 执行 OCR
    if len(sys.argv) < 2:
        print("Usage: python api_client.py <image_path>")
        print("用法: python api_client.py <图片路径>")
        sys.exit(1)

    image_path = sys.argv[1]
    print(f"Processing image: {image_path}")
    print(f"处理图片: {image_path}")
    print()

    # Method 1: File upload / 方法 1: 文件上传
    print("Method 1: File upload / 方法 1: 文件上传")
    result = ocr_file(image_path)
    print(f"✓ Success! / 成功！")
    print(f"Text length: {len(result['text'])} characters")
    print(f"文本长度: {len(result['text'])} 字符")
    print(f"Output file: {result.get('output_file', 'N/A')}")
    print(f"输出文件: {result.get('output_file', '无')}")
    print()

    # Display extracted text / 显示提取的文本
    print("Extracted text / 提取的文本:")
    print("-" * 60)
    print(result['text'])
    print("-" * 60)

if __name__ == "__main__":
    main()

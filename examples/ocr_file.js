// Verbatim from the DeepSeek-OCR API guide, the contract this server keeps (README: "Using it"). Run: npm install axios form-data && node ocr_file.js
const axios = require('axios');
const fs = require('fs');
const FormData = require('form-data');

const API_BASE_URL = 'http://localhost:8031';

async function ocrFile(imagePath) {
    const form = new FormData();
    form.append('image', fs.createReadStream(imagePath));
    form.append('prompt', '<image>\nFree OCR.');
    form.append('save_to_file', 'true');

    try {
        const response = await axios.post(
            `${API_BASE_URL}/ocr`,
            form,
            { headers: form.getHeaders() }
        );

        console.log('✓ OCR Success!');
        console.log('Text:', response.data.text);
        console.log('Output file:', response.data.output_file);
        return response.data;
    } catch (error) {
        console.error('✗ OCR failed:', error.response?.data || error.message);
        throw error;
    }
}

// Usage
ocrFile('document.png')
    .then(result => console.log('Done!'))
    .catch(err => console.error('Error:', err));

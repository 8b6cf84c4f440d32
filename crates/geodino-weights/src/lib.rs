//! Torch-free checkpoint IO: PyTorch .pth (zip + pickle) and safetensors readers, safetensors writer.

"""Name lists several rooms share, kept free of imports so that a process running a
model on onnxruntime can name them without loading torch."""
from __future__ import annotations

# The maps a model may produce, by the names its meta declares them under. ``vessel``
# is always one of them, and the first: the cut, the measures and the quality verdict
# read it; the others (artery and vein probabilities, the optic disc) ride beside it.
OUTPUT_NAMES = ("vessel", "artery", "vein", "disc")
VESSEL = "vessel"

# Autocast precisions (retinaseg.devices.autocast_dtype says what each is on a device).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# What runs the network: ``auto`` picks onnxruntime where it is installed and the model
# has an ONNX graph, else torch (retinaseg.hub.backend).
BACKENDS = ("auto", "torch", "onnxruntime")
TORCH, ONNXRUNTIME = "torch", "onnxruntime"

# Architecture name -> one line for listings (hub/catalog.py), known without importing the
# architectures (torch). Keep in step with models/ (a test checks).
ARCHITECTURES: dict[str, str] = {
    "column-bilstm": "Bi-LSTM over every image column (RETA paper), optionally rows too",
    "convlstm-unet": "U-Net whose decoder fuses skips with a bidirectional ConvLSTM (BCDU-Net)",
    "deeplabv3plus": "DeepLab v3+ (atrous spatial pyramid pooling, light decoder)",
    "unet": "U-Net (Ronneberger et al. 2015)",
    "vit-seg": "patch Vision Transformer segmenter",
    "wnet": "two small U-Nets in a row, the second reading the first's map (LWNet's kind)",
}

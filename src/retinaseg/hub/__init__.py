"""What a model is: the checkpoint format, its meta, the shipped weights and ONNX export.

Kept free of imports here, so that ``retinaseg.hub.catalog`` answers without torch."""

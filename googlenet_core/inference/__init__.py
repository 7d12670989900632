"""From weights to answers: checkpoints, torchvision's ImageNet weights, prediction, explanation.

::

    safe_load.py    reading an untrusted .pt without running code or exhausting memory
    checkpoints.py  the checkpoint format; the only way a file becomes a model
    export.py       safetensors (weights + network, classes, preprocessing) and ONNX
    pretrained.py   torchvision's ImageNet weights, downloaded once
    predictor.py    Predictor and predict_images: top-k of every head
    explain.py      Grad-CAM and an Inception block's branch feature maps
"""

"""Training and evaluation of Wave-U-Net denoisers."""

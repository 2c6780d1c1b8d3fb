"""Wave-U-Net family, checkpoints, and model facts (imports nothing heavy at package level)."""

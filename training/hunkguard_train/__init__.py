"""hunkguard training pipeline: data, augmentation, tokenizer, model, export, evaluation."""

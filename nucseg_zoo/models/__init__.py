"""Network architectures. Each module is self-contained (pure ``torch.nn``) so that it
can serve as the architecture source file of a bioimage.io model package."""

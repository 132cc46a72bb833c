"""Models: loading (hub id, local or run directory, ``tiny:<size>``, ``pocket-base``), chunked per-token
logprobs, LoRA, the tiny Qwen2 family and the shapes of real architectures. Imports nothing itself."""

"""Data: prompt sources (``prompts``), synthetic tasks (``tasks``), prompt templates (``templates``) and
the pocket lab's pretraining corpus (``corpus``). Imports nothing itself."""

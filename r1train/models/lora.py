"""LoRA and QLoRA through peft: wrap the policy, and save it as an adapter and as a merged model.

``model.lora: {r: 16, alpha: 32, dropout: 0.0, target_modules: all-linear}`` in a recipe wraps the
loaded causal LM with LoRA adapters (:func:`apply_lora`); only the adapters train. ``quantize: 4bit``
loads the base weights in NF4 first (QLoRA, Dettmers et al. 2023; needs ``bitsandbytes`` and CUDA).
``target_modules`` is ``all-linear`` (every linear layer but the output head), a list of module names
(``[q_proj, v_proj]``), or a regex string, as in peft.

With LoRA the KL reference is the base model with adapters disabled (:mod:`r1train.train.reference`), and the
rollout engine receives merged weights (:mod:`r1train.rollout.sync`). :func:`save_policy` writes the
merged model (loadable by ``from_pretrained``, vLLM and ``r1train eval`` like any checkpoint) and, for a
LoRA policy, the adapter alone in ``<target>/adapter`` (``PeftModel.from_pretrained(base, that)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1train.config import LoraConfig
from r1train.errors import UserError


def is_lora(model: Any) -> bool:
    """Whether ``model`` is a peft model (adapters that can be disabled, merged and saved alone)."""
    return hasattr(model, "disable_adapter") and hasattr(model, "get_base_model")


def quantization_config(lora: LoraConfig | None, compute_dtype: Any) -> Any | None:
    """``BitsAndBytesConfig`` for QLoRA (``quantize: 4bit``, NF4 + double quantisation) or 8-bit; else None."""
    if lora is None or lora.quantize == "none":
        return None
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError:
        raise UserError(
            f"model.lora.quantize={lora.quantize} needs bitsandbytes (and a CUDA GPU); pip install bitsandbytes "
            "or set model.lora.quantize: none"
        ) from None
    if lora.quantize == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def apply_lora(model: Any, lora: LoraConfig, gradient_checkpointing: bool = False) -> Any:
    """Wrap ``model`` with trainable LoRA adapters (B = 0 at the start, so the policy is unchanged)."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model, prepare_model_for_kbit_training

    if lora.quantize != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    elif gradient_checkpointing:
        model.enable_input_require_grads()  # checkpointed blocks need an input that requires grad
    config = PeftLoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        raise UserError(
            f"model.lora.target_modules={lora.target_modules!r} does not fit this model ({str(exc)[:160]}); "
            "use all-linear or names of its linear layers"
        ) from None


def merged_state_dict(model: Any) -> dict[str, Any]:
    """The base model's state dict with every LoRA delta merged in, under the checkpoint's names.

    Built from :func:`r1train.rollout.sync.policy_weights`, which merges one layer at a time and puts the
    trained weights back exactly; the policy keeps training afterwards.
    """
    from r1train.rollout.sync import policy_weights

    return {name: tensor.detach().clone() for name, tensor in policy_weights(model)}


def save_policy(model: Any, target: str | Path, tokenizer: Any | None = None) -> Path:
    """Save the policy to ``target`` as a full (merged) model; a LoRA policy also to ``target/adapter``."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    if is_lora(model):
        base = model.get_base_model()
        base.save_pretrained(target, state_dict=merged_state_dict(model))
        model.save_pretrained(target / "adapter")
    else:
        model.save_pretrained(target)
    if tokenizer is not None:
        tokenizer.save_pretrained(target)
    return target

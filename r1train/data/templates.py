"""Prompt templates, registered by name: turn a question into the text the policy continues.

* ``r1-zero``: DeepSeek-R1-Zero's template (reasoning in ``<think></think>``, answer in ``<answer></answer>``).
* ``pocket``: the same contract in one short line, for tiny character-level models whose every prompt
  character costs a token.
* ``boxed``: "Please reason step by step, and put your final answer within \\boxed{}." (Qwen-math style).
* ``qwen-math``: Qwen2.5-Math's chat format with that instruction as the system message, written out as
  text (the "Qwen-Math template" of Dr. GRPO, Liu et al. 2025), so it renders the same with any tokenizer.
* ``tinyzero``: TinyZero's base-model prompt for Countdown: an R1-style preamble, the question, and the
  assistant turn opened with "Let me solve this step by step.\n<think>".
* ``chat``: the tokenizer's own chat template, with an optional system prompt.
* ``plain``: the question as it is.

A template is ``fn(question: str, tokenizer, system_prompt: str | None) -> str``; its registry entry says
whether the text it renders already holds the special tokens (``special_tokens_in_text``, the chat
template) so that callers tokenise it with ``add_special_tokens=not template.special_tokens_in_text``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from r1train.errors import UserError
from r1train.registry import registrar

Template = Callable[[str, Any, "str | None"], str]
TEMPLATES: dict[str, Template] = {}

R1_ZERO = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> "
    "</answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here "
    "</answer>. User: {question}. Assistant:"
)
BOXED_SUFFIX = "Please reason step by step, and put your final answer within \\boxed{}."
QWEN_MATH = (
    "<|im_start|>system\n" + BOXED_SUFFIX + "<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
)
TINYZERO = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer.\nUser: {question}\nAssistant: Let me solve this step by step.\n<think>"
)


# special_tokens_in_text: the rendered prompt already holds the model's special tokens (a chat template),
# so tokenising it must not add BOS/EOS again
register = registrar(TEMPLATES, special_tokens_in_text=False)


@register("r1-zero")
def r1_zero(question: str, tokenizer: Any, system_prompt: str | None) -> str:
    return R1_ZERO.format(question=question)


@register("pocket")
def pocket(question: str, tokenizer: Any, system_prompt: str | None) -> str:
    return f"Q: {question}\nA:"


@register("boxed")
def boxed(question: str, tokenizer: Any, system_prompt: str | None) -> str:
    return f"{question}\n{BOXED_SUFFIX}\n"


@register("qwen-math")
def qwen_math(question: str, tokenizer: Any, system_prompt: str | None) -> str:
    return QWEN_MATH.replace("{question}", question)


@register("tinyzero")
def tinyzero(question: str, tokenizer: Any, system_prompt: str | None) -> str:
    return TINYZERO.replace("{question}", question)


@register("chat", special_tokens_in_text=True)
def chat(question: str, tokenizer: Any, system_prompt: str | None) -> str:
    if getattr(tokenizer, "chat_template", None) is None:
        raise UserError("data.template is 'chat' but the tokenizer has no chat template; use r1-zero, boxed or plain")
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": question})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@register("plain")
def plain(question: str, tokenizer: Any, system_prompt: str | None) -> str:
    return question


def get(name: str) -> Template:
    if name not in TEMPLATES:
        raise UserError(f"unknown template {name!r} in data.template; use one of {', '.join(sorted(TEMPLATES))}")
    return TEMPLATES[name]

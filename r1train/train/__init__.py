"""Training: the GRPO trainer and the stages of its step, and the pretraining entry point.

``trainer`` runs the loop (rollout -> ``scoring`` -> advantages -> ``update`` -> weight sync -> log);
``batch`` builds micro-batches, ``reference`` the KL reference, ``dynamic_sampling`` DAPO's group filter,
``optim`` the optimizer and schedule; ``pretrain`` trains the pocket lab's tiny base. This package's
``__init__`` imports nothing, so importing one stage never loads the others.
"""

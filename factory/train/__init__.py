"""Training glue for the pretrain and finetune stages: datasets with the runtime's letterbox, the Lightning
trainer and epoch-end evaluation, and F1 evaluation through the runtime's decoder and evaluator."""

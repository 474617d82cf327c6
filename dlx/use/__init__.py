"""Using trained runs: restore, evaluate, predict, export, fine-tune, ensemble and bag.

Every command here starts from a finished run folder: its `config.yaml` rebuilds the model,
`checkpoints/best.pt` holds the weights and, in its `meta`, the preprocessing fitted on the
training rows, the class names, the input shape and the task.
"""

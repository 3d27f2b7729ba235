"""Training: progress data, stop reasons, the Keras callback, the trainer and the runtime description."""

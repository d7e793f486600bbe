"""Training backends (Keras, fastai) and the code that runs one job in its own process.

Nothing here imports TensorFlow or torch at module level except the backend modules themselves,
which are imported only inside the job's child process.
"""

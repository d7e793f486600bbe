"""Architecture names per library, Keras backends and precisions: plain data that the web
validates jobs against and that the workers train with (workers import it from here)."""

THESIS_ARCHITECTURES = ["vgg16", "vgg19", "resnet50", "resnet101", "densenet121", "densenet169"]
SMALL_ARCHITECTURES = ["small-cnn"]  # a few conv blocks: practical on a CPU
ARCHITECTURES = {
    "keras": THESIS_ARCHITECTURES + SMALL_ARCHITECTURES,
    "fastai": THESIS_ARCHITECTURES + ["resnet18"] + SMALL_ARCHITECTURES,
}
LABELS = {
    "vgg16": "VGG16",
    "vgg19": "VGG19",
    "resnet18": "ResNet18",
    "resnet50": "ResNet50",
    "resnet101": "ResNet101",
    "densenet121": "DenseNet121",
    "densenet169": "DenseNet169",
    "small-cnn": "Small CNN",
}
# auto: TensorFlow if it sees a GPU, else torch if it does, else TensorFlow on the CPU
KERAS_BACKENDS = ["auto", "tensorflow", "torch"]
PRECISIONS = ["auto", "bf16-mixed", "fp32"]  # auto: bf16-mixed on a GPU, fp32 on the CPU

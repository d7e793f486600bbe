"""Units get a Spanish title, shown with the original English one beside it.

Databases loaded before this migration get the same titles that guide/content now holds, so a
site shows them without another `load_guide`; a later `load_guide` keeps them in step.
"""

from django.db import migrations, models

TITLES_ES = {
    "ng-1": "Redes neuronales y aprendizaje profundo",
    "ng-2": (
        "Mejora de las redes neuronales profundas: ajuste de hiperparámetros, regularización"
        " y optimización"
    ),
    "ng-3": "Estructuración de proyectos de aprendizaje automático",
    "ng-4": "Redes neuronales convolucionales",
    "ng-5": "Modelos secuenciales",
    "fastai-1": "Clasificación de imágenes",
    "fastai-2": "Limpieza de datos y puesta en producción; SGD desde cero",
    "fastai-3": "Bloques de datos; clasificación multi-etiqueta; segmentación",
    "fastai-4": "PLN; datos tabulados; filtrado colaborativo; embeddings",
    "fastai-5": "Retropropagación; SGD acelerado; red neuronal desde cero",
    "fastai-6": "Regularización; convoluciones; ética de los datos",
    "fastai-7": "ResNets desde cero; U-Net; redes generativas (antagónicas)",
    "fastai-8": "Multiplicación de matrices; pasos hacia delante y hacia atrás",
    "fastai-9": "Funciones de pérdida, optimizadores y el bucle de entrenamiento",
    "fastai-10": "Una mirada al interior del modelo",
    "fastai-11": "La API Data Block y un optimizador genérico",
    "fastai-12": "Técnicas avanzadas de entrenamiento; ULMFiT desde cero",
    "fastai-13": "Fundamentos de Swift para el aprendizaje profundo",
    "fastai-14": "Interoperabilidad con C; protocolos; todo junto",
}


def fill_titles(apps, schema_editor):
    Unit = apps.get_model("guide", "Unit")
    for unit in Unit.objects.filter(slug__in=TITLES_ES, title_es=""):
        unit.title_es = TITLES_ES[unit.slug]
        unit.save(update_fields=["title_es"])


class Migration(migrations.Migration):
    dependencies = [
        ("guide", "0004_course_status"),
    ]

    operations = [
        migrations.AddField(
            model_name="unit",
            name="title_es",
            field=models.CharField(
                blank=True,
                help_text="Spanish title; empty: the original is shown.",
                max_length=300,
            ),
        ),
        migrations.RunPython(fill_titles, migrations.RunPython.noop),
    ]

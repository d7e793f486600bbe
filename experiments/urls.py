from django.urls import path

from experiments.datasets import views as datasets
from experiments.jobs import views as jobs
from experiments.research import views as research

app_name = "experiments"

urlpatterns = [
    path("", jobs.run_list, name="run_list"),
    path("runs/new/", jobs.run_new, name="run_new"),
    path("runs/<int:pk>/", jobs.run_detail, name="job_detail"),
    path("runs/<int:pk>/live/", jobs.run_live, name="run_live"),
    path("runs/<int:pk>/cancel/", jobs.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/download/<str:kind>/", jobs.run_artifact, name="run_artifact"),
    path("compare/", research.compare, name="compare"),
    path("table-4-2/", research.table_4_2, name="table_4_2"),
    path("reproduce/", research.reproduce, name="reproduce"),
    path("datasets/", datasets.dataset_list, name="dataset_list"),
    path("datasets/import/", datasets.dataset_import, name="dataset_import"),
    path("datasets/upload/", datasets.dataset_upload, name="dataset_upload"),
    path(
        "datasets/imports/<int:pk>/",
        datasets.dataset_import_status,
        name="dataset_import_status",
    ),
    path("datasets/<slug:name>/", datasets.dataset_detail, name="dataset_detail"),
    path("datasets/<slug:name>/image/", datasets.dataset_image, name="dataset_image"),
    path("workers/", jobs.worker_list, name="worker_list"),
    path(
        "runs/<int:pk>/predictions.csv",
        research.run_predictions_csv,
        name="run_predictions_csv",
    ),
    path(
        "image-predictions/<int:pk>/<str:kind>.png",
        research.image_prediction_file,
        name="image_prediction_file",
    ),
    path("studies/", research.study_list, name="study_list"),
    path("studies/new/", research.study_new, name="study_new"),
    path("studies/<int:pk>/", research.study_detail, name="study_detail"),
    path("studies/<int:pk>/live/", research.study_live, name="study_live"),
    path("studies/<int:pk>/cancel/", research.study_cancel, name="study_cancel"),
    path("studies/<int:pk>/clone/", research.study_clone, name="study_clone"),
    path("studies/<int:pk>/export.<str:fmt>", research.study_export, name="study_export"),
]

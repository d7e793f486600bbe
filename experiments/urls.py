from django.urls import path

from . import research_views, views

app_name = "experiments"

urlpatterns = [
    path("", views.run_list, name="run_list"),
    path("runs/new/", views.run_new, name="run_new"),
    path("runs/<int:pk>/", views.run_detail, name="job_detail"),
    path("runs/<int:pk>/live/", views.run_live, name="run_live"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/download/<str:kind>/", views.run_artifact, name="run_artifact"),
    path("compare/", views.compare, name="compare"),
    path("table-4-2/", views.table_4_2, name="table_4_2"),
    path("reproduce/", views.reproduce, name="reproduce"),
    path("datasets/", views.dataset_list, name="dataset_list"),
    path("datasets/import/", views.dataset_import, name="dataset_import"),
    path("datasets/<slug:name>/", views.dataset_detail, name="dataset_detail"),
    path("datasets/<slug:name>/image/", views.dataset_image, name="dataset_image"),
    path("workers/", views.worker_list, name="worker_list"),
    path(
        "runs/<int:pk>/predictions.csv",
        research_views.run_predictions_csv,
        name="run_predictions_csv",
    ),
    path(
        "image-predictions/<int:pk>/<str:kind>.png",
        research_views.image_prediction_file,
        name="image_prediction_file",
    ),
    path("studies/", research_views.study_list, name="study_list"),
    path("studies/new/", research_views.study_new, name="study_new"),
    path("studies/<int:pk>/", research_views.study_detail, name="study_detail"),
    path("studies/<int:pk>/live/", research_views.study_live, name="study_live"),
    path("studies/<int:pk>/cancel/", research_views.study_cancel, name="study_cancel"),
    path("studies/<int:pk>/clone/", research_views.study_clone, name="study_clone"),
    path("studies/<int:pk>/export.<str:fmt>", research_views.study_export, name="study_export"),
]

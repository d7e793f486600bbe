from django.urls import path

from . import views

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
]

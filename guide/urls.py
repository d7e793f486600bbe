from django.urls import path

from . import learner_views, views

app_name = "guide"

urlpatterns = [
    path("", views.home, name="home"),
    path("courses/", views.course_list, name="course_list"),
    path("courses/<slug:slug>/", views.course_detail, name="course_detail"),
    path("programmes/<slug:slug>/", views.programme_detail, name="programme_detail"),
    path("programmes/<slug:programme>/<slug:slug>/", views.unit_detail, name="unit_detail"),
    path("compare/", views.compare, name="compare"),
    path("glossary/", views.glossary, name="glossary"),
    path("glossary/practice/", learner_views.glossary_practice, name="glossary_practice"),
    path("glossary/export.csv", learner_views.glossary_export_csv, name="glossary_csv"),
    path("glossary/anki.txt", learner_views.glossary_export_anki, name="glossary_anki"),
    path("glossary/<slug:slug>/", views.glossary_term, name="glossary_term"),
    path("recommend/", views.recommend, name="recommend"),
    path("keras-vs-fastai/", views.library_comparison, name="library_comparison"),
    path("search/", views.search_view, name="search"),
    path("plan/", learner_views.plan_page, name="plan"),
    path("plan/calendar.ics", learner_views.plan_calendar, name="plan_calendar"),
    path("progress/units/<int:unit_id>/", learner_views.toggle_done, name="toggle_done"),
    path("language/<str:code>/", views.switch_language, name="switch_language"),
]

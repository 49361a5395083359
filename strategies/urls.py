from django.urls import path

from strategies import views

app_name = "strategies"
urlpatterns = [
    path("", views.strategy_list, name="list"),
    path("<int:strategy_id>/activity.json", views.strategy_activity, name="activity"),
]

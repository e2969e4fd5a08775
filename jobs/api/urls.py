from rest_framework.routers import SimpleRouter

from jobs.api.views import ChannelViewSet, JobViewSet, ScheduleViewSet

router = SimpleRouter()
router.register("jobs", JobViewSet, basename="job")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("channels", ChannelViewSet, basename="channel")

urlpatterns = router.urls

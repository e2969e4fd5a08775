"""Beat: the scheduler that fires jobs, its planning, and the django-celery-beat mirror."""

from libs.service.kit import run
from services.alerts.app import spec

run(spec)

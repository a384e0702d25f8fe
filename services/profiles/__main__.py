from libs.service.kit import run
from services.profiles.app import spec

run(spec)

from libs.service.kit import run
from services.collections.app import spec

run(spec)

from libs.service.kit import run
from services.scoring.app import spec

run(spec)

from libs.service.kit import run
from services.receivables.app import spec

run(spec)

from services.registry.service import build
from shared.main import service_main

service_main("registry", build)

from services.ai.service import build
from shared.main import service_main

service_main("ai", build)

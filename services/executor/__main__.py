from services.executor.service import build
from shared.main import service_main

service_main("executor", build)

from services.backtester.service import build
from shared.main import service_main

service_main("backtester", build)

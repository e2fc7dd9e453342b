
Ù
Õ

service.name
api-gateway

service.version
1.8.0
#
deployment.environment	
stagi
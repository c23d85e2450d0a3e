"""The ECS adapter: SOAP 1.1 through zeep (client), its error translation (faults) and
the mapping of zeep's objects to ours (mapping). The WSDL is the repository's copy."""

from penaltypay.adapters.ecs_soap.client import DEFAULT_WSDL_PATH, EcsClient

__all__ = ["DEFAULT_WSDL_PATH", "EcsClient"]

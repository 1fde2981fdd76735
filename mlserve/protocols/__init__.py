"""Wire formats as plain functions over engine types: the OpenAPI bodies (`openapi`) and the
Open Inference Protocol (`v2`). No web framework: any front (REST, gRPC) uses them."""

"""Request validation three ways: pydantic, jsonschema, marshmallow."""

import jsonschema
import marshmallow
import pydantic


class Req(pydantic.BaseModel):
    data: list


assert Req(data=[[1, 2]]).data == [[1, 2]]
schema = {"type": "object", "properties": {"data": {"type": "array"}}, "required": ["data"]}
jsonschema.validate({"data": [1]}, schema)
try:
    jsonschema.validate({}, schema)
    raise AssertionError("jsonschema accepted a missing field")
except jsonschema.ValidationError:
    pass


class ReqSchema(marshmallow.Schema):
    data = marshmallow.fields.List(marshmallow.fields.Float(), required=True)


assert ReqSchema().load({"data": [1, "2.5"]}) == {"data": [1.0, 2.5]}
print("ok", pydantic.VERSION, marshmallow.__version__)

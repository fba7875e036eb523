"""Azure Storage clients and a SAS token, offline, beside the image's azure-core/identity."""

import base64
from datetime import datetime, timedelta

import azure.core
import azure.identity
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

key = base64.b64encode(b"0" * 32).decode()
conn = (
    "DefaultEndpointsProtocol=https;AccountName=acct;"
    f"AccountKey={key};EndpointSuffix=core.windows.net"
)
service = BlobServiceClient.from_connection_string(conn)
blob = service.get_blob_client("models", "model.onnx")
assert blob.url == "https://acct.blob.core.windows.net/models/model.onnx", blob.url
sas = generate_blob_sas(
    "acct",
    "models",
    "model.onnx",
    account_key=key,
    permission=BlobSasPermissions(read=True),
    expiry=datetime.utcnow() + timedelta(hours=1),
)
assert "sig=" in sas
azure.identity.ClientSecretCredential("tenant", "client", "secret")  # constructed, not used
print("ok", azure.core.__version__)

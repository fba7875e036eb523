"""Azure ML SDK v1 (azureml-core): the prebuilt image, extended at start by pip from the
internal index (wheelhouse serve, or nginx with deploy/nginx/wheelhouse.conf).

The image runs `pip install -r $AZUREML_EXTRA_REQUIREMENTS_TXT` (relative to the score
script's folder) when the container starts; the lock has a hash for every file, so pip
installs exactly the verified wheels, and PIP_INDEX_URL sends it to the internal index only.
"""

from azureml.core import Environment, Model, Workspace
from azureml.core.model import InferenceConfig
from azureml.core.webservice import AksWebservice

IMAGE = "mcr.microsoft.com/azureml/sklearn-0.24.1-ubuntu18.04-py37-cpu-inference:latest"

ws = Workspace.from_config()
env = Environment(name="sklearn-wheelhouse-requirements")
env.docker.base_image = IMAGE
env.python.user_managed_dependencies = True
env.environment_variables = {
    "AZUREML_EXTRA_REQUIREMENTS_TXT": "requirements.lock",
    "PIP_INDEX_URL": "http://wheelhouse.internal:8080/simple",
    "PIP_TRUSTED_HOST": "wheelhouse.internal",  # drop it behind https
    "PIP_ONLY_BINARY": ":all:",
}
inference_config = InferenceConfig(
    source_directory="../score", entry_script="score.py", environment=env
)
service = Model.deploy(
    ws,
    "wheelhouse-requirements",
    [Model(ws, name="my-model")],
    inference_config,
    AksWebservice.deploy_configuration(cpu_cores=1, memory_gb=1),
)
service.wait_for_deployment(show_output=True)

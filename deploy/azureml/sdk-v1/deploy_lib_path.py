"""Azure ML SDK v1 (azureml-core): the prebuilt image, extended by a mounted folder.

Before running this, put the artifact beside the score script (the folder is uploaded with
it):  wheelhouse unpack myenv.tar.gz ../score/myenv
The image prepends AZUREML_EXTRA_PYTHON_LIB_PATH (relative to the score script's folder) to
PYTHONPATH; nothing is installed when the container starts, and nothing reaches a network.
"""

from azureml.core import Environment, Model, Workspace
from azureml.core.model import InferenceConfig
from azureml.core.webservice import AksWebservice

IMAGE = "mcr.microsoft.com/azureml/sklearn-0.24.1-ubuntu18.04-py37-cpu-inference:latest"

ws = Workspace.from_config()
env = Environment(name="sklearn-wheelhouse-lib-path")
env.docker.base_image = IMAGE
env.python.user_managed_dependencies = True  # the image's own Python, nothing added by conda
env.environment_variables = {
    "AZUREML_EXTRA_PYTHON_LIB_PATH": "myenv/lib/python3.7/site-packages",
}
inference_config = InferenceConfig(
    source_directory="../score", entry_script="score.py", environment=env
)
service = Model.deploy(
    ws,
    "wheelhouse-lib-path",
    [Model(ws, name="my-model")],
    inference_config,
    AksWebservice.deploy_configuration(cpu_cores=1, memory_gb=1),
)
service.wait_for_deployment(show_output=True)

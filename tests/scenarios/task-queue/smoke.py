"""A Celery app running a task eagerly (no broker): the task machinery works on 3.7."""

import celery

app = celery.Celery("smoke", broker="memory://", backend="cache+memory://")
app.conf.task_always_eager = True


@app.task
def add(x, y):
    return x + y


assert add.delay(2, 3).get(timeout=10) == 5
assert app.signature(add.name, (1, 1)).apply().get() == 2
print("ok", celery.__version__)

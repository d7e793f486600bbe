FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# requirements-gpu.txt for GPU workers (docker-compose gpu-worker): TensorFlow's CUDA libraries
ARG REQUIREMENTS=requirements.txt
COPY requirements.txt requirements-gpu.txt ./
RUN pip install --no-cache-dir -r ${REQUIREMENTS}
COPY . .
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "4"]

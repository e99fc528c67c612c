"""Per-step wall and CPU time of a plain Keras ResNet (benchmarks/keras_resnet.py) in one process
alone: inside `fit` (a callback around each batch) and calling the compiled train function
directly. Used to tell a TensorFlow step's own time from the stall that TensorFlow processes
showed in the throughput harness (benchmarks/README.md).

    python -m benchmarks.step_times --model=resnet18 --batch=64 --steps=8
"""

import argparse
import time

import tfreg  # noqa: F401 - TF_ENABLE_ONEDNN_OPTS before TensorFlow loads


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet18")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=8)
    args = p.parse_args()

    import keras
    import tensorflow as tf

    from benchmarks import keras_resnet

    model = keras_resnet.resnet(args.model)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
    x = tf.random.uniform((args.batch, 32, 32, 3))
    ds = tf.data.Dataset.from_tensors((x, tf.zeros((args.batch,), tf.int32))).repeat()
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, batch, logs=None):
            wall, cpu = time.perf_counter() - self.start[0], time.process_time() - self.start[1]
            print(f"fit step {batch}: wall {wall:.3f} s, cpu {cpu:.3f} s")

    model.fit(ds, steps_per_epoch=args.steps, epochs=1, verbose=0, callbacks=[Timer()])
    iterator = iter(ds)
    for i in range(args.steps):
        start = time.perf_counter(), time.process_time()
        logs = model.train_function(iterator)
        float(logs["loss"])  # wait for the step
        print(f"direct step {i}: wall {time.perf_counter() - start[0]:.3f} s, "
              f"cpu {time.process_time() - start[1]:.3f} s")


if __name__ == "__main__":
    main()

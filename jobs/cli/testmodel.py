"""Write the tiny K2-layout model used by the demo and the tests (random, or trained with --train)."""

from jobs import exit_codes
from jobs.cli.errors import fail


def add_arguments(parser) -> None:
    parser.add_argument("path", help="folder to write the model to")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", action="store_true",
                        help="train it on the demo job's task (a few minutes on 2 cores) instead of random weights")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's 2,000)")


def run(args) -> int:
    if not args.train:
        if args.steps is not None:
            return fail("--steps needs --train", exit_codes.SPEC_ERROR)
        from jobs.devtools.testmodel import write_test_model

        path = write_test_model(args.path, seed=args.seed)
        print(f"wrote a random-weight K2-layout test model to {path}")
        return exit_codes.OK
    from jobs.devtools.train_testmodel import Recipe, train_test_model

    recipe = Recipe(seed=args.seed) if args.steps is None else Recipe(seed=args.seed, steps=args.steps)
    if recipe.steps < 1:
        return fail(f"--steps must be at least 1, got {recipe.steps}", exit_codes.SPEC_ERROR)
    report = train_test_model(args.path, recipe=recipe, progress=True)
    print(
        f"trained the K2-layout test model in {args.path}: {recipe.steps} steps, final loss {report.losses[-1]:.4f}, "
        f"{report.wall_seconds:.0f} s ({report.cpu_seconds:.0f} CPU-s), peak memory {report.peak_memory_mib:.0f} MiB "
        "(report: training.json)"
    )
    return exit_codes.OK

"""Write the tiny random-weight K2-layout model used by the demo and the tests."""


def add_arguments(parser) -> None:
    parser.add_argument("path", help="folder to write the model to")
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from jobs.testmodel import write_test_model

    path = write_test_model(args.path, seed=args.seed)
    print(f"wrote a random-weight K2-layout test model to {path}")
    return 0

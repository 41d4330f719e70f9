from types import ModuleType

import nexus_kernel_helpers as nx


def test_all_is_sorted_and_lists_every_public_name() -> None:
    objects = {
        name
        for name, value in vars(nx).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and getattr(value, "__module__", "").startswith(nx.__name__)
    }
    modules = {name for name in nx.__all__ if isinstance(getattr(nx, name), ModuleType)}
    assert modules == {"sandbox"}
    assert nx.__all__ == sorted(nx.__all__)
    assert set(nx.__all__) == objects | modules


def test_every_exported_name_resolves() -> None:
    for name in nx.__all__:
        assert getattr(nx, name) is not None
